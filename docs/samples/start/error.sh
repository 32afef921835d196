# An unknown model: the OpenAI error envelope, HTTP 404
curl -s "$OMNIRELAY_BASE_URL/v1/chat/completions" \
  -H "Authorization: Bearer $OMNIRELAY_KEY" \
  -H "Content-Type: application/json" \
  -d '{"model": "gpt-9", "messages": [{"role": "user", "content": "Hi"}]}'
