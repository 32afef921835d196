import os

from google import genai
from google.genai import types

client = genai.Client(
    api_key=os.environ["OMNIRELAY_KEY"],
    http_options={"base_url": os.environ["OMNIRELAY_BASE_URL"]},
)

response = client.models.generate_content(
    model="gemini-2.0-flash",
    contents="Explain how AI works",
    config=types.GenerateContentConfig(system_instruction="Answer briefly.", temperature=0.5),
)
print(response.text)
print(response.usage_metadata.total_token_count, "tokens")

for chunk in client.models.generate_content_stream(
    model="gemini-2.5-flash", contents="Write a haiku about the sea"
):
    print(chunk.text or "", end="", flush=True)
print()

# Any chat model answers in this format, Claude and GPT included
print(client.models.generate_content(model="claude-3-5-haiku-20241022", contents="Hi").text)

vector = client.models.embed_content(model="gemini-embedding-001", contents="hello")
print(len(vector.embeddings[0].values), "dimensions")
