"""The graph of a frame or a window of frames: affinities (matting, superpixel,
temporal) and the Laplacian (DESIGN step 3)."""
