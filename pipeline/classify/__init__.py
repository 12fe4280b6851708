"""Classification: encoders, embedding cache, lexicon and embedding models."""
