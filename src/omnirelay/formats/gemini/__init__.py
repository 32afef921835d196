"""The Gemini wire family: structs, errors and schemas (wire), generateContent (content), its
event streams (stream), and embeddings to and from OpenAI's (embeddings)."""
