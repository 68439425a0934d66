"""Pictures to features: decode, ink, shape, the chain, the segmentation of
numbers, and the PNGs kept and shown. numpy and Pillow (scipy only where a
number is split); imports nothing else of the application but its errors."""
