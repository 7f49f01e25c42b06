"""dlbook: the helper package of *ConvNets in Depth*.

Holds what more than one chapter needs and the infrastructure no reader wants to read twice.
One module per concern:

- :mod:`dlbook.runtime`  run mode (fast/full), seeding, device report, mixed precision, strategy
- :mod:`dlbook.data`     offline Fashion-MNIST, bundled photographs, fast-mode subsets
- :mod:`dlbook.nb_setup` side-by-side figures and ``glue`` for notebooks
- :mod:`dlbook.calc`     output sizes, parameters, multiply-adds, receptive fields, model reports
- :mod:`dlbook.train`    one efficient way to fit a Keras classifier (tf.data, schedules, timing)
- :mod:`dlbook.recipes`  the reference network for Fashion-MNIST, trained once and cached
- :mod:`dlbook.pretrained` an ImageNet classifier offline (EfficientNet-Lite0 from a PyPI wheel)
- :mod:`dlbook.figures`  the code that draws every file in ``DL_images/``
- :mod:`dlbook.colab`    Colab-ready copies of the executed chapters (``make book`` runs it)

``import dlbook`` imports none of them, so it stays cheap; import the module you need. Modules that
define Keras classes (``train``, ``recipes``) import Keras and TensorFlow at their top.
"""

__version__ = "0.1.0"
