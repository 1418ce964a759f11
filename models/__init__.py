"""Model zoo and personalization pipeline: tasks (`models.tasks`) and their variants, built by name into
TFLite / Core ML artifacts with a typed manifest.json (`models.zoo`).

Task packages and the registry import no TensorFlow: it is imported only inside builders, so reading the
zoo, checking a data spec or a cached artifact stays cheap. Technique modules take the model and data as
arguments and import no task.
"""
