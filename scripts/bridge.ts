import { closeQueue } from '#lib/queue/client';
import { bridgeOptionsFromConfig, startBridge } from '#local/bridge';

// The queue bridge on its own, for a serverless-offline started separately: `npm run bridge`.
async function main() {
  const lambdaUrl = `http://127.0.0.1:${process.env.LAMBDA_PORT ?? '3002'}`;
  const bridge = await startBridge(bridgeOptionsFromConfig(lambdaUrl));
  const stop = async () => {
    await bridge.stop(Number(process.env.SHUTDOWN_TIMEOUT_MS ?? 10_000));
    await closeQueue();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
  console.log(`Bridge consuming the queue, invoking functions at ${lambdaUrl}`);
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
