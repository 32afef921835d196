# Ideogram 3.0 takes a multipart form
curl -s "$OMNIRELAY_BASE_URL/ideogram/v1/ideogram-v3/generate" \
  -H "Api-Key: $OMNIRELAY_KEY" \
  -F prompt="a city at dusk" \
  -F rendering_speed=TURBO \
  -F aspect_ratio=16x9 \
  -F num_images=2
