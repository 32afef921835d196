# Every answer to a rate-limited key says what is left (here: the headers only)
curl -s -D - -o /dev/null "$OMNIRELAY_BASE_URL/v1/chat/completions" \
  -H "Authorization: Bearer $OMNIRELAY_KEY" \
  -H "Content-Type: application/json" \
  -d '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}' \
  | grep -i -E '^(x-ratelimit|retry-after|x-request-id)'
