import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

type Resolver = (input: { resolveVariable: (v: string) => Promise<unknown> }) => Promise<unknown>;
const load = (module: string) => createRequire(import.meta.url)(module) as Resolver;
const iam = load('../../local/iam.js');
const vpc = load('../../local/vpc.js');

/** A `resolveVariable` answering `param:<name>` from `params` (a default after a comma, as serverless does). */
const params = (values: Record<string, string>) => ({
  resolveVariable: async (v: string) => {
    const [name = '', fallback] = v.replace(/^param:/, '').split(/,\s*/);
    return values[name] ?? fallback?.replace(/^'|'$/g, '');
  },
});

type Statement = { Action: string[]; Resource: unknown[]; Condition?: unknown };

describe("serverless.yml's computed settings: the role's statements (local/iam.js) and the VPC (local/vpc.js)", () => {
  it('reads exactly the named parameters, and decrypts through SSM only with a customer managed key', async () => {
    const statements = (await iam(
      params({ databaseUrlParameter: '/svc/prod/db', apiKeysParameter: 'svc-keys', secretsKmsKeyArn: 'arn:aws:kms:us-east-1:1:key/k' }),
    )) as Statement[];
    expect(statements.find((s) => s.Action.includes('ssm:GetParameters'))?.Resource).toEqual([
      { 'Fn::Sub': 'arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/svc/prod/db' },
      { 'Fn::Sub': 'arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/svc-keys' },
    ]);
    expect(statements.find((s) => s.Action.includes('kms:Decrypt'))).toMatchObject({
      Resource: ['arn:aws:kms:us-east-1:1:key/k'],
      Condition: { StringEquals: { 'kms:ViaService': { 'Fn::Sub': 'ssm.${AWS::Region}.amazonaws.com' } } },
    });
  });

  it('grants no SSM or KMS action for a stage that names no parameter (`none` or empty: the local stage)', async () => {
    for (const values of [
      { databaseUrlParameter: 'none', apiKeysParameter: 'none' },
      { databaseUrlParameter: '', apiKeysParameter: '' },
    ]) {
      const statements = (await iam(params({ ...values, secretsKmsKeyArn: 'arn:aws:kms:us-east-1:1:key/k' }))) as Statement[];
      expect(statements.flatMap((s) => s.Action).filter((a) => !a.startsWith('sqs:'))).toEqual([]);
    }
  });

  it('puts the functions in the VPC given by both lists, and refuses one without the other', async () => {
    expect(await vpc(params({ vpcSubnetIds: 'subnet-a, subnet-b', vpcSecurityGroupIds: 'sg-1' }))).toEqual({
      subnetIds: ['subnet-a', 'subnet-b'],
      securityGroupIds: ['sg-1'],
    });
    expect(await vpc(params({}))).toEqual({ subnetIds: [], securityGroupIds: [] });
    await expect(vpc(params({ vpcSubnetIds: 'subnet-a' }))).rejects.toThrow(/both vpcSubnetIds and vpcSecurityGroupIds/);
  });
});
