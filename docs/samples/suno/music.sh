# Inspiration mode: describe the song; the answer's "data" is the task id
TASK_ID=$(curl -s "$OMNIRELAY_BASE_URL/suno/submit/music" \
  -H "Authorization: Bearer $OMNIRELAY_KEY" \
  -H "Content-Type: application/json" \
  -d '{"gpt_description_prompt": "a sea shanty about debugging", "mv": "chirp-v3-5"}' \
  | jq -r '.data')
echo "task: $TASK_ID"

while :; do
  TASK=$(curl -s "$OMNIRELAY_BASE_URL/suno/fetch/$TASK_ID" -H "Authorization: Bearer $OMNIRELAY_KEY")
  echo "$TASK" | jq -r '"\(.data.status) \(.data.progress)"'
  case "$(echo "$TASK" | jq -r .data.status)" in SUCCESS|FAILURE) break ;; esac
  sleep 3
done
echo "$TASK" | jq -r '.data.data[] | "\(.title): \(.audio_url)"'
