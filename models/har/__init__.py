"""Activity recognition (UCI HAPT): data, the global model and its personalization variants."""
