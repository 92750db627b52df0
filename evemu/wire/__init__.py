"""Wire layer: framing and the marshal codec."""
