"""The validation render engine. Imports torch/diffusers only when a render runs."""
