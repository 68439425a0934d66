"""Pictures to features: decode, ink, a photo's cleaning, shape, the chain, the
segmentation of numbers, and the PNGs kept and shown. numpy, Pillow and
libspng (scipy and scikit-image only for photos and numbers); imports nothing
else of the application but its errors."""
