import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';

/** A function that does nothing: the benchmark's measure of what the HTTP gateway itself costs per request. */
export const handler = async (): Promise<APIGatewayProxyStructuredResultV2> => ({
  statusCode: 200,
  headers: { 'content-type': 'application/json' },
  body: '{"ok":true}',
});
