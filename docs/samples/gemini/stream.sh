# Streaming: server-sent events (alt=sse)
curl -sN "$OMNIRELAY_BASE_URL/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse" \
  -H "x-goog-api-key: $OMNIRELAY_KEY" \
  -H "Content-Type: application/json" \
  -d '{"contents": [{"role": "user", "parts": [{"text": "Write a haiku about the sea"}]}]}'
