# Flux in the DALL·E 3 format: the same endpoint, a Flux model; the gateway waits for the job
curl -s "$OMNIRELAY_BASE_URL/v1/images/generations" \
  -H "Authorization: Bearer $OMNIRELAY_KEY" \
  -H "Content-Type: application/json" \
  -d '{"model": "flux-pro-1.1", "prompt": "a red fox in snow", "size": "1024x768", "n": 2}'
