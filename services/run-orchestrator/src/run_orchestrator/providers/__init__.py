"""Model providers behind one Protocol: the built-in mock and OpenAI-compatible endpoints."""
