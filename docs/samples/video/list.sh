# Your latest image2video tasks, newest first
curl -s "$OMNIRELAY_BASE_URL/kling/v1/videos/image2video?pageNum=1&pageSize=5" \
  -H "Authorization: Bearer $OMNIRELAY_KEY"
