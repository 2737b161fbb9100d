/**
 * `<topic>__<service>.<target>`: the default consumer group of a route, named like the RabbitMQ
 * listener queue. Instances of the service share it; every route gets every record of its topic.
 */
export function defaultGroupId(topic: string, service: string, target: string): string {
  return `${topic}__${service}.${target}`;
}

/** `<groupId>.retry`: where a consumer group's delayed retries wait. */
export function retryTopicName(groupId: string): string {
  return `${groupId}.retry`;
}

/** `<groupId>.dlt`: the dead-letter topic of a consumer group. */
export function deadLetterTopicName(groupId: string): string {
  return `${groupId}.dlt`;
}

/** Header carrying when a retry record is due (epoch ms). */
export const retryDueHeader = 'x-retry-due';
