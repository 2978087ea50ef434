"""Fine-tuning the feedback model: augmentation, data, loss, loop and the command line."""
