"""Model backends: one module per backend; `flames.models.base` defines the interface."""
