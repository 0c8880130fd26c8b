"""Running a model: pre/post-processing, the predictor, backends, the pipeline and its cache."""
