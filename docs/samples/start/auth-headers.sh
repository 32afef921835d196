# One key, every surface: each takes the header its vendor's clients send.
curl -s -o /dev/null -w "OpenAI     %{http_code}\n" "$OMNIRELAY_BASE_URL/v1/models" \
  -H "Authorization: Bearer $OMNIRELAY_KEY"
curl -s -o /dev/null -w "Anthropic  %{http_code}\n" "$OMNIRELAY_BASE_URL/v1/messages/count_tokens" \
  -H "x-api-key: $OMNIRELAY_KEY" -H "anthropic-version: 2023-06-01" \
  -H "Content-Type: application/json" \
  -d '{"model": "claude-3-5-haiku-20241022", "messages": [{"role": "user", "content": "Hi"}]}'
curl -s -o /dev/null -w "Gemini     %{http_code}\n" \
  "$OMNIRELAY_BASE_URL/v1beta/models/gemini-2.0-flash:countTokens" \
  -H "x-goog-api-key: $OMNIRELAY_KEY" -H "Content-Type: application/json" \
  -d '{"contents": [{"parts": [{"text": "Hi"}]}]}'
curl -s -o /dev/null -w "Midjourney %{http_code}\n" "$OMNIRELAY_BASE_URL/mj/task/list-by-condition" \
  -H "mj-api-secret: $OMNIRELAY_KEY" -H "Content-Type: application/json" -d '{}'
curl -s -o /dev/null -w "no key     %{http_code}\n" "$OMNIRELAY_BASE_URL/v1/models"
