"""The Kernel Lab: Keras-exact convolution, the kernel catalog, samples and the lab's view."""
