/**
 * Managed-settings keys that Claude Code 2.1.332 accepts (its gateway validates policies against
 * the CLI's own settings schema) but that the vendored SchemaStore schema does not list yet.
 *
 * A policy may set any of these: Weir passes them through unchanged. The few whose shape Weir
 * knows are type-checked through `REFERENCE_SETTING_TYPES` (JSON Schema, as the vendored file);
 * the others are accepted as they are, since the reference schema is not published. When the
 * vendored schema is updated, keys it gains can be deleted here (a test keeps the lists apart).
 *
 * The list was read from the 2.1.332 CLI's settings schema (key names only).
 */
import type { SchemaNode } from './json-schema.js'

export const REFERENCE_SETTING_KEYS: readonly string[] = Object.freeze([
  'additionalDirectoryConfigRoots',
  'additionalMarketplaces',
  'allowClaudeInChromeWithManagedMcp',
  'allowNestedModelAccessUnderForceLogin',
  'allowedMarketplaces',
  'allowedProviders',
  'appendPlugins',
  'askUserQuestionTimeout',
  'attributionProject',
  'attributionProjectPolicy',
  'autoCompactOfferAnswer',
  'autoCompactRaisedForLoad',
  'autoCompactWindow',
  'autoContinueAtUsageLimit',
  'autoDreamEnabled',
  'autoUploadSessions',
  'availableModelsMatch',
  'bashEditDiffEnabled',
  'bashOutputMaxChars',
  'breakReminder',
  'clawdFileProgressEnabled',
  'crossSessionInbound',
  'daemonColdStart',
  'deniedModels',
  'desktopMcpServersListScope',
  'desktopSessionCleanupPeriodDays',
  'dialogExpiry',
  'disableCommandPluginSources',
  'disableDirectMcpSkills',
  'disableReplyCheck',
  'disableSideloadFlags',
  'disableWindowsBashCommandSplit',
  'doneMeansMerged',
  'downloadsMirrorUrl',
  'emojiCompletionEnabled',
  'enableArtifact',
  'enableWorkflows',
  'feedbackDrafts',
  'forceLoginGatewayUrl',
  'gatewayInternalNetworks',
  'idleCompaction',
  'isolatePeerMachines',
  'keybindingFlavor',
  'managedSourcesBehavior',
  'maxEffortLevel',
  'maxProseWidth',
  'modelCatalogPublicKey',
  'modelCatalogUrl',
  'modelPicker',
  'modelPricing',
  'modelProposedGoals',
  'modelSettings',
  'permissionModes',
  'policyHelpers',
  'precomputeArmTokens',
  'precomputeCompactionEnabled',
  'prependPlugins',
  'processWrapper',
  'promptCacheTtl',
  'promptSuggestionEnabled',
  'proxyAuthHelper',
  'quietHours',
  'remote',
  'remoteControl',
  'remoteMessageReceipts',
  'remoteTools',
  'responseComparisonEnabled',
  'showMessageTimestamps',
  'skipWorkflowUsageWarning',
  'spellcheck',
  'sshHostCommands',
  'subagentPromptCacheTtl',
  'switchModelsOnFlag',
  'syncClaudeAiPlugins',
  'syncClaudeAiSkills',
  'taskOutputMaxChars',
  'terminalTitleFromRename',
  'timeFormat',
  'timeZone',
  'todoFeatureEnabled',
  'totalTokensReminder',
  'totalTokensReminderAfterUserTurn',
  'totalTokensReminderBudget',
  'ultracode',
  'vimInsertModeRemaps',
  'workflowSizeGuideline',
  'xaaIdp',
])

const str: SchemaNode = { type: 'string' }

/** Shapes of the reference-only keys Weir checks (the rest pass as they are). */
export const REFERENCE_SETTING_TYPES: Readonly<Record<string, SchemaNode>> = Object.freeze({
  /** Added folder -> the folder whose configuration it reads instead (host programs only). */
  additionalDirectoryConfigRoots: { type: 'object', additionalProperties: str },
  /** Where Claude Desktop applies the MCP allow and deny lists. */
  desktopMcpServersListScope: str,
  /** Load no skills from MCP servers the client connects to directly. */
  disableDirectMcpSkills: { type: 'boolean' },
  /** Mirror native installs download releases from. */
  downloadsMirrorUrl: str,
  /** PEM public key a self-hosted model catalog is signed with. */
  modelCatalogPublicKey: str,
  /** URL of the model-catalog document. */
  modelCatalogUrl: str,
})
