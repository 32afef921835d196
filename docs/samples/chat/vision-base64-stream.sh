# Image recognition, streaming, the picture inline as base64 (picture.png in this directory)
IMAGE=$(base64 -w0 picture.png)
curl -sN "$OMNIRELAY_BASE_URL/v1/chat/completions" \
  -H "Authorization: Bearer $OMNIRELAY_KEY" \
  -H "Content-Type: application/json" \
  -d @- <<JSON
{
  "model": "gpt-4o",
  "stream": true,
  "messages": [{
    "role": "user",
    "content": [
      {"type": "text", "text": "Describe this picture"},
      {"type": "image_url", "image_url": {"url": "data:image/png;base64,$IMAGE"}}
    ]
  }]
}
JSON
