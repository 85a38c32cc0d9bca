// `provider.iam.role.statements` of serverless.yml: what every function's role may do, and nothing more.
// - SQS: send, receive, delete, change visibility and read attributes of the stage's own queues.
// - SSM: read exactly the parameters named by the stage's databaseUrlParameter and apiKeysParameter (none on the
//   local stage), and, when they are encrypted with a customer managed key (secretsKmsKeyArn), decrypt with that key
//   through SSM only. The AWS managed key aws/ssm needs no grant in the role.

const QUEUES = ['TasksHighQueue', 'TasksMediumQueue', 'TasksLowQueue', 'TasksDlq', 'TaskIntakeQueue', 'TaskIntakeDlq'];

/** The ARN of an SSM parameter of this account and region; a name without a leading slash gets one in the ARN. */
const parameterArn = (name) => ({
  'Fn::Sub': `arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter${name.startsWith('/') ? '' : '/'}${name}`,
});

module.exports = async ({ resolveVariable }) => {
  const param = async (name) => String((await resolveVariable(`param:${name}`)) ?? '').trim();
  const statements = [
    {
      Effect: 'Allow',
      Action: [
        'sqs:SendMessage',
        'sqs:ReceiveMessage',
        'sqs:DeleteMessage',
        'sqs:ChangeMessageVisibility',
        'sqs:GetQueueAttributes',
        'sqs:GetQueueUrl',
      ],
      Resource: QUEUES.map((queue) => ({ 'Fn::GetAtt': [queue, 'Arn'] })),
    },
  ];
  // `none` names no parameter (the command line cannot pass an empty value).
  const parameters = [await param('databaseUrlParameter'), await param('apiKeysParameter')].filter((name) => name && name !== 'none');
  if (parameters.length > 0) {
    statements.push({ Effect: 'Allow', Action: ['ssm:GetParameters'], Resource: parameters.map(parameterArn) });
    const key = await param('secretsKmsKeyArn');
    if (key) {
      statements.push({
        Effect: 'Allow',
        Action: ['kms:Decrypt'],
        Resource: [key],
        Condition: { StringEquals: { 'kms:ViaService': { 'Fn::Sub': 'ssm.${AWS::Region}.amazonaws.com' } } },
      });
    }
  }
  return statements;
};
