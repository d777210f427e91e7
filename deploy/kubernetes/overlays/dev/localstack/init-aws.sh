#!/bin/bash
# Creates the order-events topic and the notification queues (see API.md,
# "Events"). LocalStack runs ready.d scripts on every start and keeps no
# state between starts here, so every step must be safe to run again: create
# calls return the existing resource, attributes are set rather than passed to
# create-queue (which refuses differing attributes), and the subscription is
# only made when it is missing.
set -euo pipefail

topic_name=order-events
queue_name=notification-queue
dlq_name=notification-dlq
# Long enough for a consumer to send a mail before the message reappears.
visibility_timeout=60
# After this many failed receives a message is parked in the dead-letter queue.
max_receive_count=5

topic_arn=$(awslocal sns create-topic --name "$topic_name" --query TopicArn --output text)

dlq_url=$(awslocal sqs create-queue --queue-name "$dlq_name" --query QueueUrl --output text)
dlq_arn=$(awslocal sqs get-queue-attributes --queue-url "$dlq_url" \
  --attribute-names QueueArn --query Attributes.QueueArn --output text)
# Keep dead letters for the SQS maximum (14 days) so they can be inspected.
awslocal sqs set-queue-attributes --queue-url "$dlq_url" \
  --attributes MessageRetentionPeriod=1209600

queue_url=$(awslocal sqs create-queue --queue-name "$queue_name" --query QueueUrl --output text)
queue_arn=$(awslocal sqs get-queue-attributes --queue-url "$queue_url" \
  --attribute-names QueueArn --query Attributes.QueueArn --output text)

# RedrivePolicy and Policy are JSON documents carried as strings inside the
# attributes document, hence the escaped quotes. The Policy lets only this
# topic deliver to the queue, as real SQS requires.
attributes=$(mktemp)
trap 'rm -f "$attributes"' EXIT
cat >"$attributes" <<JSON
{
  "VisibilityTimeout": "${visibility_timeout}",
  "ReceiveMessageWaitTimeSeconds": "20",
  "RedrivePolicy": "{\"deadLetterTargetArn\":\"${dlq_arn}\",\"maxReceiveCount\":\"${max_receive_count}\"}",
  "Policy": "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"Service\":\"sns.amazonaws.com\"},\"Action\":\"sqs:SendMessage\",\"Resource\":\"${queue_arn}\",\"Condition\":{\"ArnEquals\":{\"aws:SourceArn\":\"${topic_arn}\"}}}]}"
}
JSON
awslocal sqs set-queue-attributes --queue-url "$queue_url" --attributes "file://${attributes}"

# The consumer reads the SNS envelope (Subject, MessageAttributes.event_type,
# Message), so raw delivery stays off.
subscription_arn=$(awslocal sns list-subscriptions-by-topic --topic-arn "$topic_arn" \
  --query "Subscriptions[?Protocol=='sqs' && Endpoint=='${queue_arn}'].SubscriptionArn | [0]" \
  --output text)
if [[ -z "$subscription_arn" || "$subscription_arn" == "None" ]]; then
  subscription_arn=$(awslocal sns subscribe --topic-arn "$topic_arn" --protocol sqs \
    --notification-endpoint "$queue_arn" --return-subscription-arn \
    --query SubscriptionArn --output text)
fi
awslocal sns set-subscription-attributes --subscription-arn "$subscription_arn" \
  --attribute-name RawMessageDelivery --attribute-value false

echo "order events: ${topic_arn} -> ${queue_url} (dead letters: ${dlq_name} after ${max_receive_count} receives)"
