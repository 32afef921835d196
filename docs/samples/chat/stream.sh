# -N: print each event as it arrives
curl -sN "$OMNIRELAY_BASE_URL/v1/chat/completions" \
  -H "Authorization: Bearer $OMNIRELAY_KEY" \
  -H "Content-Type: application/json" \
  -d '{
    "model": "gpt-4o",
    "stream": true,
    "stream_options": {"include_usage": true},
    "messages": [{"role": "user", "content": "Count to five"}]
  }'
