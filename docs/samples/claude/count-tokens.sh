curl -s "$OMNIRELAY_BASE_URL/v1/messages/count_tokens" \
  -H "x-api-key: $OMNIRELAY_KEY" \
  -H "anthropic-version: 2023-06-01" \
  -H "Content-Type: application/json" \
  -d '{
    "model": "claude-3-5-haiku-20241022",
    "messages": [{"role": "user", "content": "How many tokens is this?"}]
  }'
