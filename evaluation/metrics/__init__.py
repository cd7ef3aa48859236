"""The metrics: pure functions on tensors / arrays plus loaders for the weight-backed networks."""
