import os

from openai import OpenAI

client = OpenAI(
    base_url=os.environ["OMNIRELAY_BASE_URL"] + "/v1",
    api_key=os.environ["OMNIRELAY_KEY"],
)

documents = ["omnirelay is a model gateway", "Lighthouses guide ships", "Gateways route requests"]
query = "What routes API calls?"

vectors = client.embeddings.create(model="text-embedding-3-small", input=[*documents, query])
*doc_vectors, query_vector = (item.embedding for item in vectors.data)


def dot(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


ranked = sorted(zip(documents, doc_vectors, strict=True), key=lambda d: -dot(d[1], query_vector))
for text, vector in ranked:
    print(f"{dot(vector, query_vector):+.3f}  {text}")
print(vectors.usage.total_tokens, "tokens")
