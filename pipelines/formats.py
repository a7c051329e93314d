"""Names of the source kinds, importable without TensorFlow (for the CLI's --help)."""

FORMATS = ("auto", "directory", "npz", "tfds", "tfrecord", "manifest")
