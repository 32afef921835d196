import math
import os

from openai import OpenAI

client = OpenAI(
    base_url=os.environ["OMNIRELAY_BASE_URL"] + "/v1",
    api_key=os.environ["OMNIRELAY_KEY"],
)

result = client.embeddings.create(
    model="text-embedding-3-small",
    input=["The food was delicious", "The waiter was friendly"],
)
a, b = (item.embedding for item in result.data)
cosine = sum(x * y for x, y in zip(a, b, strict=True)) / (math.hypot(*a) * math.hypot(*b))
print(len(result.data), "vectors of", len(a), "dimensions; cosine similarity", round(cosine, 3))
