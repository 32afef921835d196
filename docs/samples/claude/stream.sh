curl -sN "$OMNIRELAY_BASE_URL/v1/messages" \
  -H "x-api-key: $OMNIRELAY_KEY" \
  -H "anthropic-version: 2023-06-01" \
  -H "Content-Type: application/json" \
  -d '{
    "model": "claude-3-5-haiku-20241022",
    "max_tokens": 256,
    "stream": true,
    "messages": [{"role": "user", "content": "Count to three"}]
  }'
