curl -s "$OMNIRELAY_BASE_URL/v1/messages" \
  -H "x-api-key: $OMNIRELAY_KEY" \
  -H "anthropic-version: 2023-06-01" \
  -H "Content-Type: application/json" \
  -d '{
    "model": "claude-sonnet-4-5-20250929",
    "max_tokens": 1024,
    "system": "You are a concise assistant.",
    "messages": [{"role": "user", "content": "Hello, Claude"}]
  }'
