"""Model zoo and personalization pipeline: builds TFLite artifacts (+ manifest.json) by variant name.

TensorFlow is imported only inside builders, so reading the zoo or a cached artifact stays cheap.
"""
