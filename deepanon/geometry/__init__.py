"""Pure geometry shared by training and inference: boxes, face alignment, repaint masks."""
