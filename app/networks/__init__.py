"""Networks: the architecture spec and its Keras builder, the lesson presets, the model
registry, inference on loaded models, and reading a drawing like MNIST."""
