"""leakage-audit pipelines: tf.data sources, the profiling map and (later) Beam.

How images are found, read and decoded lives here; what a check means lives in
``audit``.
"""
