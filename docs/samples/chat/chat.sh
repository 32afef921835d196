curl -s "$OMNIRELAY_BASE_URL/v1/chat/completions" \
  -H "Authorization: Bearer $OMNIRELAY_KEY" \
  -H "Content-Type: application/json" \
  -d '{
    "model": "gpt-4o",
    "messages": [
      {"role": "system", "content": "You are a helpful assistant."},
      {"role": "user", "content": "What is a model gateway?"}
    ],
    "temperature": 0.7,
    "max_tokens": 200
  }'
