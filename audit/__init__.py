"""leakage-audit: audit image-classification datasets before and after training.

The domain lives here: configuration, the ImageTable schema, the checks, the
result model and the command line. Reading and decoding images lives in
``pipelines``; rendering lives in ``reports``.
"""

__version__ = "0.1.0"
