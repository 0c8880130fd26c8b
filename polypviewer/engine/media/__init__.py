"""Reading sources: images, videos, folders, datasets and their annotations."""
