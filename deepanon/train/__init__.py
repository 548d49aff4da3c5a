"""Training the face GAN: data preparation, losses, the training loop (inference never imports this)."""
