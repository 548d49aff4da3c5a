"""The conditional face GAN: data preparation, networks, losses, training loop and weights."""
