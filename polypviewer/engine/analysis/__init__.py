"""What the predictions mean: comparison with ground truth, tracking into findings, Grad-CAM."""
