import { SearchAttributeType } from '@temporalio/common';
import { ALL_SEARCH_ATTRIBUTE_KEYS } from '../../workflows/searchAttributes';

const CLI_TYPE_NAMES: Record<string, string> = {
  [SearchAttributeType.KEYWORD]: 'Keyword',
  [SearchAttributeType.TEXT]: 'Text',
  [SearchAttributeType.INT]: 'Int',
  [SearchAttributeType.DOUBLE]: 'Double',
  [SearchAttributeType.BOOL]: 'Bool',
  [SearchAttributeType.DATETIME]: 'Datetime',
  [SearchAttributeType.KEYWORD_LIST]: 'KeywordList',
};

/** name=Type pairs for `temporal server start-dev --search-attribute`. */
export function searchAttributeFlags(): string[] {
  return ALL_SEARCH_ATTRIBUTE_KEYS.map((k) => `${k.name}=${CLI_TYPE_NAMES[k.type]}`);
}
